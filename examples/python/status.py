"""Prints a task's status: python3 status.py <id> [queue]

(pending, running, retrying, completed, failed, cancelled, dead or unknown).
Without a queue the task is located first.
"""

import asyncio
import os
import sys

import strand_client as s


async def main(argv):
    if not argv:
        print("usage: python3 status.py <task-id> [queue]", file=sys.stderr)
        return 2
    client = await s.connect(os.environ.get("STRAND_SERVER") or "nats://127.0.0.1:4222",
                             prefix=os.environ.get("STRAND_PREFIX") or "strand")
    try:
        h = await client.open(argv[0], queue=argv[1] if len(argv) > 1 else None)
        print((await h.status()).value)
        return 0
    except s.NotFound:
        print(s.Status.UNKNOWN.value)
        return 0
    finally:
        await client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
