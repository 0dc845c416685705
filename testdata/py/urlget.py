#!/usr/bin/env python3
"""urlget.py: fetch a URL with python3's urllib.request and print the body.

Fixture ("pyconnect"): checks that CPython's socket module, which connects
with a blocking connect() (or a non-blocking one with a timeout, as here),
is proxied transparently.

usage: python3 urlget.py URL

Prints the body (decoded as UTF-8 with replacement), newline-terminated, and
exits 0. On failure prints "error: ..." (and "errno: NAME" when the failure
carries an errno) and exits 1. Bounded by a 30 s timeout. No proxy settings
from the environment are used.
"""
import errno
import sys
import urllib.request


def main():
    if len(sys.argv) != 2:
        print("usage: urlget.py URL", file=sys.stderr)
        return 2
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(sys.argv[1], timeout=30) as resp:
            body = resp.read()
    except Exception as e:  # report everything in one parseable form
        print("error: %s" % (e,))
        err = e
        for _ in range(10):  # follow .reason / causes, bounded
            if not isinstance(err, BaseException):
                break
            code = getattr(err, "errno", None)
            if isinstance(code, int) and code in errno.errorcode:
                print("errno: %s" % errno.errorcode[code])
                break
            err = getattr(err, "reason", None) or err.__cause__ or err.__context__
        return 1
    text = body.decode("utf-8", "replace")
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
