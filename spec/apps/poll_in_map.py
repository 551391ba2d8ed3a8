# poll() reached through a C builtin (map inside list): the list under
# construction lives only in wasm locals, so no collection may run meanwhile.
import mongoose

mongoose.init(lambda body: body, lambda u, p: True)


def step(i):
    mongoose.poll(0)
    junk = [str(j) * 10 for j in range(200)]  # garbage, so collections are due
    return i * 3


for _ in range(20):
    out = list(map(step, range(300)))
    if len(out) != 300 or any(v != i * 3 for i, v in enumerate(out)):
        print("CORRUPT", len(out))
        raise SystemExit(3)
print("intact")
while True:
    mongoose.poll(1000)
