# Ways a guest can die or hang where Python cannot catch it: the host must
# replace the instance and keep serving (spec/restart.test.ts).
import time

import mongoose

app = mongoose.App()


@app.get("/trap")
def trap(req):
    # spin=MS first keeps the guest busy (not polling) for that long, so that
    # clients arriving meanwhile are certainly not accepted before the trap.
    _busy(int(req.query.get("spin", "0")))
    # repr() of a deeply nested list recurses in C until the wasm stack
    # overflows: a trap, not a Python exception.
    nested = []
    for _ in range(200000):
        nested = [nested]
    return repr(nested)


@app.get("/stuck")
def stuck(req):
    # One long C computation: the VM's CPU budget check never runs.
    # About 10 s here (it grows as n squared): past the watchdog, yet it ends,
    # for Deno and Bun cannot stop a thread inside C; their guest ends after it.
    n = int(req.query.get("n", "120000"))
    return str(7 ** n)[:10]


def _busy(ms):
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        pass


@app.get("/slow")
def slow(req):
    # Python code busy for a while, under the budget.
    _busy(int(req.query.get("ms", "300")))
    return "slow done"


@app.get("/ok")
def ok(req):
    return "ok"


app.run()
