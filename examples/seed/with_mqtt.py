# The seed's complete program: the HTTP API with Basic auth, plus an MQTT
# client that reports each API call and listens for commands. Run it with the
# broker allowed: pythongoose examples/seed/with_mqtt.py --allow 127.0.0.1:1883
import mongoose

BROKER = "mqtt://127.0.0.1:1883"


def on_connect():
    print("mqtt connected")
    mqtt.sub("pythongoose/cmd", 1)


def on_publish(topic, msg):
    print("mqtt", topic, msg)
    mqtt.pub("pythongoose/reply", b"ack " + msg, 1)


def api_cb(body):
    print("f1", body)
    if mqtt.connected:
        mqtt.pub("pythongoose/api", body, 0)
    return "epname: pythongoose"


def auth_cb(user, pwd):
    return user == "admin" and pwd == "istrator"


mqtt = mongoose.MQTTclient(on_connect, on_publish)
mqtt.connect(BROKER, "", "", "pythongoose/status", "offline", 1, True)
mongoose.init(api_cb, auth_cb)
while True:
    mongoose.poll(1000)
