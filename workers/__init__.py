"""The application's handlers: examples to copy."""
