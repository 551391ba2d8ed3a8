# The benchmark's handler, the same for every contender. Pythongoose and the
# native build serve it through `mongoose.App`; the Pyodide and MicroPython-wasm
# contenders have no `mongoose` module, so they load only the functions and call
# them from node:http (bench/contenders/).

PAGE = '<!doctype html><title>pythongoose bench</title><h1>OK</h1><p>served by a Python handler</p>\n'
BLOB = bytes(range(256)) * 4096  # 1 MiB, built once


def page():
    return PAGE


def epname(body):
    return 'epname: ' + body


def download():
    return BLOB


def upload(body):
    return 'received %d bytes' % len(body)


try:
    import asyncio
    import mongoose
except ImportError:
    mongoose = None

if mongoose is not None:
    app = mongoose.App(static=False)

    @app.get('/')
    def _page(request):
        return mongoose.Response(page(), content_type='text/html')

    @app.post('/api/epname')
    def _epname(request):
        return mongoose.Response(epname(request.text), content_type='text/plain')

    @app.get('/download')
    def _download(request):
        return mongoose.Response(download(), content_type='application/octet-stream')

    @app.post('/upload')
    def _upload(request):
        return mongoose.Response(upload(request.body), content_type='text/plain')

    @app.get('/async')
    async def _async_page(request):
        return mongoose.Response(page(), content_type='text/html')

    @app.get('/async-sleep')
    async def _async_sleep_page(request):
        await asyncio.sleep(0)
        return mongoose.Response(page(), content_type='text/html')

    app.run()
