# Python frozen into the guest as bytecode: the `mongoose` package, the
# module's Python half over the C module `_mongoose`.
package("mongoose")
# MicroPython's own asyncio from the fetched source, less its streams (no
# sockets in the guest); mongoose/loop.py runs it on Mongoose's loop.
package("asyncio", ("__init__.py", "core.py", "event.py", "funcs.py", "lock.py"),
        base_path="$(MPY_DIR)/extmod", opt=3)
