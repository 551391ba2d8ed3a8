# Python frozen into the guest as bytecode: the `mongoose` module's Python half.
module("mongoose.py")
