"""Cancels a task: python3 cancel.py <id> [queue]

Prints "cancelled"; a task that has finished, or of which nothing is left,
is refused (the reason on stderr, exit 1).
"""

import asyncio
import os
import sys

import strand_client as s


async def main(argv):
    if not argv:
        print("usage: python3 cancel.py <task-id> [queue]", file=sys.stderr)
        return 2
    client = await s.connect(os.environ.get("STRAND_SERVER") or "nats://127.0.0.1:4222",
                             prefix=os.environ.get("STRAND_PREFIX") or "strand")
    try:
        h = await client.open(argv[0], queue=argv[1] if len(argv) > 1 else None)
        await h.cancel()
        print("cancelled")
        return 0
    except (s.Finished, s.NotFound) as e:
        print(f"strand: {e}", file=sys.stderr)
        return 1
    finally:
        await client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
