# Python frozen into the guest as bytecode: the `mongoose` package, the
# module's Python half over the C module `_mongoose`.
package("mongoose")
