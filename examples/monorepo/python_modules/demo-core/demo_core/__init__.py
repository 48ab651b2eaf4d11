from importlib.metadata import version


def greet() -> str:
    return f"hello from demo-core {version('demo-core')}"
