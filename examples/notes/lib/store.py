# Notes kept as one JSON file on the data volume. Each save writes a new file
# and renames it over the old one: after a crash the file holds the old list
# or the new, never half of one (littlefs makes the rename atomic).
import json
import os


class Store:
    def __init__(self, path, limit):
        self.path = path
        self.limit = limit
        try:
            with open(path) as f:
                self.notes = json.load(f)
        except OSError:  # the first run: no file yet
            self.notes = []

    def add(self, text):
        notes = (self.notes + [text])[-self.limit:]
        with open(self.path + ".new", "w") as f:
            json.dump(notes, f)
        os.rename(self.path + ".new", self.path)
        self.notes = notes
