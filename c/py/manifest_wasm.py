# The wasm guest's frozen Python: the `mongoose` package (manifest.py, which
# the native build freezes too) and `os` with the app's environment.
include("manifest.py")
module("os.py")
