#!/usr/bin/env python3
"""Proves that no secret reached a message during the whole test suite.

tests/run-all.sh runs every suite with HUBAUTH_TRANSCRIPT (every error message
and warning hubauth created, one per line) and HUBAUTH_TRANSCRIPT_TOKENS (every
token the test servers minted). This fails if any minted token, or one of the
fixed test secrets, appears in any message, or if too little was collected
for the check to mean anything.
"""
import sys

# Secrets the test servers and fixtures use that are not minted per run.
FIXED_SECRETS = ["pat-alice-0123456789", "hubauth-secret"]
MIN_MESSAGES = 100
MIN_TOKENS = 200


def main(transcript_path, tokens_path):
    with open(transcript_path, encoding="utf-8", errors="replace") as f:
        messages = f.read().splitlines()
    with open(tokens_path, encoding="utf-8", errors="replace") as f:
        tokens = {t for t in f.read().split() if len(t) >= 8}
    secrets = tokens | set(FIXED_SECRETS)
    leaks = []
    for number, message in enumerate(messages, 1):
        for secret in secrets:
            if secret in message:
                leaks.append((number, secret[:6] + "…"))
    print(f"secrets scan: {len(messages)} messages checked against {len(secrets)} secrets")
    if len(messages) < MIN_MESSAGES or len(tokens) < MIN_TOKENS:
        print(f"too little collected (need {MIN_MESSAGES} messages and {MIN_TOKENS} tokens)")
        print("0 passed, 1 failed")
        return 1
    if leaks:
        for number, prefix in leaks[:20]:
            print(f"  line {number} of {transcript_path} holds a secret starting {prefix}")
        print("0 passed, 1 failed")
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
