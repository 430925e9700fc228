SELECT MIN(id), MAX(id) FROM {legacy}
