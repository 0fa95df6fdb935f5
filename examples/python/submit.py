"""Submits one task to strand and prints its result as JSON.

    python3 submit.py                    # add(2, 3) → 5
    python3 submit.py --json echo '"hi"' # a JSON envelope: echo("hi") → "hi"
    python3 submit.py --id job-42 add 1 2
    python3 submit.py --kwargs '{"scale": 10}' scaled_add 2 3  # for a handler that takes kwargs
    python3 submit.py --queue later --no-wait add 1 2  # prints the id, does not wait
    python3 submit.py --result-ttl-ms 1000 add 1 2     # the outcome is kept 1 s
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
    use_json, wait, task_id, queue, options = False, True, None, "default", {}
    while argv and argv[0].startswith("--"):
        flag = argv[0]
        if flag == "--json":
            use_json, argv = True, argv[1:]
        elif flag == "--no-wait":
            wait, argv = False, argv[1:]
        elif flag == "--id":
            task_id, argv = argv[1], argv[2:]
        elif flag == "--queue":
            queue, argv = argv[1], argv[2:]
        elif flag == "--result-ttl-ms":
            options["result_ttl_ms"], argv = int(argv[1]), argv[2:]
        elif flag == "--kwargs":
            options["kwargs"], argv = json.loads(argv[1]), argv[2:]
        else:
            print(f"unknown flag {flag}", file=sys.stderr)
            return 2
    func = argv[0] if argv else "add"
    args = [parse_arg(a) for a in argv[1:]] if len(argv) > 1 else ([2, 3] if func == "add" else [])

    client = await strand.connect(os.environ.get("STRAND_SERVER") or "nats://127.0.0.1:4222",
                                  prefix=os.environ.get("STRAND_PREFIX") or "strand")
    try:
        task_id = await client.submit(func, args, task_id=task_id, queue=queue, use_json=use_json, **options)
        if not wait:
            print(task_id)
        else:
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
