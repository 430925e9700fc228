"""Development helpers shared by tests, benchmarks and demo scripts; never imported by the product."""
