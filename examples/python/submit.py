"""Submits one task to strand and prints its result as JSON.

    python3 submit.py                    # add(2, 3) → 5
    python3 submit.py --json echo '"hi"' # a JSON envelope: echo("hi") → "hi"
    python3 submit.py --id job-42 add 1 2
    python3 submit.py nosuch             # the error on stderr, exit 1

Arguments after the function name are parsed as JSON when they are JSON,
else passed as strings. STRAND_SERVER is the NATS URL (default
nats://127.0.0.1:4222); STRAND_PREFIX the deployment prefix (default strand).
"""

import asyncio
import json
import os
import sys

import strand


def parse_arg(s):
    try:
        return json.loads(s)
    except ValueError:
        return s


async def main(argv):
    use_json, task_id = False, None
    while argv and argv[0] in ("--json", "--id"):
        if argv[0] == "--json":
            use_json, argv = True, argv[1:]
        else:
            task_id, argv = argv[1], argv[2:]
    func = argv[0] if argv else "add"
    args = [parse_arg(a) for a in argv[1:]] if len(argv) > 1 else ([2, 3] if func == "add" else [])

    client = await strand.connect(os.environ.get("STRAND_SERVER") or "nats://127.0.0.1:4222",
                                  prefix=os.environ.get("STRAND_PREFIX") or "strand")
    try:
        task_id = await client.submit(func, args, task_id=task_id, use_json=use_json)
        print(json.dumps(await client.result(task_id, timeout=60)))
        return 0
    except strand.TaskError as e:
        print(f"strand: {e} ({e.status}, {e.kind})", file=sys.stderr)
        return 1
    except (strand.DuplicateError, asyncio.TimeoutError) as e:
        print(f"strand: {e}", file=sys.stderr)
        return 1
    finally:
        await client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
