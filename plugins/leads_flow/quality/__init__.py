"""The data-quality gate: nothing is published until Great Expectations has checked the staged rows."""
