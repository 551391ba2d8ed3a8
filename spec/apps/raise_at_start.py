import mongoose
raise OSError("no config here")
