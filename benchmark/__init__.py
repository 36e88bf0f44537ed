"""The engine: suites, runner, metrics, results store and the command line."""
