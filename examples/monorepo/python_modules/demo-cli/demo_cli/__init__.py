from demo_core import greet


def main() -> None:
    print(greet())
