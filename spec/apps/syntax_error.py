import mongoose
def api_cb(body)
    return body
