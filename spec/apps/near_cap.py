# Most of a small heap is live; every request makes megabytes of garbage.
# The collections must keep up before the heap reaches its cap (--heap-max).
from mongoose import App

app = App()
LIVE = [bytes(1024 * 1024) for _ in range(6)]


@app.get('/')
def index(request):
    n = 0
    for i in range(3):
        n += len(bytes(1024 * 1024))
    return 'made %d' % n


app.run()
