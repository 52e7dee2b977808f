"""fed-proxy: not built yet (issue "Proxy service"); says so instead of pretending."""

import sys


def main() -> None:
    print("fed-proxy: the Proxy service is not built yet (see the issue 'Proxy service').")
    sys.exit(2)


if __name__ == "__main__":
    main()
