// Compiled (not run) by `npm run typecheck`: the package's declarations,
// resolved through its own "exports" as a user's code resolves them, give
// the types below. A change that breaks a user's types breaks this file.
import * as s from "@strand-run/client";

export async function usage(): Promise<void> {
  const c: s.Client = await s.connect("nats://127.0.0.1:4222", { prefix: "strand", name: "types" });
  const h: s.Handle = await c.submit("add", [2, 3], { queue: "default", timeout: 1000, maxAttempts: 2, resultTtl: 60_000, meta: { a: "b" } });
  const r: unknown = await h.result({ timeout: 20_000 });
  const st: s.Status = await h.status();
  const ready: boolean = await h.isReady();
  const info: s.TaskInfo = await h.metadata;
  const p: s.Progress | null = await h.progress();
  for await (const item of h.items({ timeout: 1000 })) void item;
  const o: s.Outcome = await h.watchProgress((pr: s.Progress) => void pr.done);
  await h.stream({ onItem: (it, n: number) => void [it, n], onEnd: (oc: s.Outcome) => void oc.status, onError: (e) => void e });
  await h.cancel();

  const add = c.task<[number, number], number>("add");
  const sum: number = await (await add(2, 3)).result();
  // @ts-expect-error: the args are typed
  await add("2", 3);
  const typed: s.Handle<number> = c.open<number>("id-1", { queue: "default" });
  const n: number = await typed.result();
  // @ts-expect-error: options that are not on the wire do not compile
  await c.submit("add", [1], { priority: 1 });

  try {
    await h.result();
  } catch (err) {
    if (err instanceof s.UnknownFunc || err instanceof s.BadArgs || err instanceof s.Timeout || err instanceof s.Cancelled) {
      const e: s.TaskError = err;
      void [e.kind, e.status, e.outcome, e.id];
    } else if (err instanceof s.TaskFailed) {
      void err.message;
    } else if (err instanceof s.DuplicateError) {
      const first: s.Handle = err.handle;
      void first;
    } else if (err instanceof s.WaitTimeout) {
      void err.id;
    }
  }
  const later: s.Handle = await c.submit("add", [2, 3], { after: 5000 });
  const at: Date | undefined = (await c.submit("add", [2, 3], { at: new Date(Date.now() + 5000) })).runAt;
  const runAt: Date | undefined = (await later.metadata).runAt;
  const scheduled: s.Status = "scheduled";
  await c.putSchedule("nightly", "0 2 * * *", "add", [1, 2], { queue: "default", tz: "Europe/Paris", timeout: 1000 });
  // @ts-expect-error: a schedule's tasks take no id of their own
  await c.putSchedule("nightly", "@every 5s", "add", [], { id: "x" });
  const list: s.ScheduleInfo[] = await c.schedules();
  const one: s.ScheduleInfo = await c.getSchedule("nightly");
  const last: string | undefined = one.lastTask;
  await c.pauseSchedule("nightly");
  await c.resumeSchedule("nightly");
  await c.deleteSchedule("nightly");
  void [at, runAt, scheduled, list, last];
  void [r, st, ready, info, p, o, sum, n];
  await c.close();
}
