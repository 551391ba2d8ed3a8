// qstrs specific to this port: none (py.mk needs the file; the sources name their own).
