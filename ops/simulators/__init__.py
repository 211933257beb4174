"""Local stand-ins for provider APIs, served over real HTTP for tests, benchmarks and demos."""
