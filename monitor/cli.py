def main(argv: list[str] | None = None) -> int:
    print("not built yet")
    return 0
