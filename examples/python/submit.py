"""Submits one task to strand with strand_client and prints its result as JSON.

    python3 submit.py                    # add(2, 3) → 5
    python3 submit.py --json echo '"hi"' # a JSON envelope: echo("hi") → "hi"
    python3 submit.py --id job-42 add 1 2
    python3 submit.py --kwargs '{"scale": 10}' scaled_add 2 3  # kwargs: 50
    python3 submit.py --queue later --no-wait add 1 2  # prints the id, does not wait
    python3 submit.py --result-ttl 1 add 1 2           # the outcome is kept 1 s
    python3 submit.py count 3                          # streamed items, one per line as they come
    python3 submit.py nosuch             # the error on stderr, exit 1

Arguments after the function name are parsed as JSON when they are JSON,
else passed as strings. STRAND_SERVER is the NATS URL (default
nats://127.0.0.1:4222); STRAND_PREFIX the deployment prefix (default strand).
"""

import asyncio
import json
import os
import sys

import strand_client as s


def parse_arg(a):
    try:
        return json.loads(a)
    except ValueError:
        return a


async def main(argv):
    use_json, wait, options = False, True, {}
    while argv and argv[0].startswith("--"):
        flag = argv[0]
        if flag == "--json":
            use_json, argv = True, argv[1:]
        elif flag == "--no-wait":
            wait, argv = False, argv[1:]
        elif flag in ("--id", "--queue"):
            options[flag[2:]], argv = argv[1], argv[2:]
        elif flag == "--result-ttl":
            options["result_ttl"], argv = float(argv[1]), argv[2:]
        elif flag == "--kwargs":
            options["kwargs"], argv = json.loads(argv[1]), argv[2:]
        else:
            print(f"unknown flag {flag}", file=sys.stderr)
            return 2
    func = argv[0] if argv else "add"
    args = [parse_arg(a) for a in argv[1:]] if len(argv) > 1 else ([2, 3] if func == "add" else [])

    client = await s.connect(os.environ.get("STRAND_SERVER") or "nats://127.0.0.1:4222",
                             prefix=os.environ.get("STRAND_PREFIX") or "strand", json=use_json)
    try:
        h = await client.submit(func, *args, **options)
        if not wait:
            print(h.id)
        elif func == "count":
            async for item in h.items(timeout=60):
                print(json.dumps(item), flush=True)
        else:
            print(json.dumps(await h.result(timeout=60)))
        return 0
    except s.TaskFailed as e:
        print(f"strand: {e} ({e.status}, {e.kind})", file=sys.stderr)
        return 1
    except s.Duplicate as e:
        print(f"strand: {e}", file=sys.stderr)
        return 1
    except (s.WaitTimeout, s.BadOption) as e:
        print(f"strand: {e}", file=sys.stderr)
        return 1
    finally:
        await client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
