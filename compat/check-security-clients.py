#!/usr/bin/env python3
"""kafka-python and confluent-kafka (librdkafka) over a SASL listener: each produces and
consumes back exactly; with a wrong password and with an unknown user each fails with an
authentication error instead of hanging or being served.

Usage: check-security-clients.py BOOTSTRAP PROTOCOL MECHANISM USER PASSWORD [--cafile PEM]
"""

import argparse
import logging
import os
import sys
import time

RECORDS = 300


def fail(message):
    sys.exit(f"check-security-clients: FAIL: {message}")


def kafka_python_config(a, user, password):
    config = dict(bootstrap_servers=a.bootstrap, security_protocol=a.protocol,
                  sasl_mechanism=a.mechanism, sasl_plain_username=user,
                  sasl_plain_password=password, request_timeout_ms=15000)
    if a.cafile:
        config.update(ssl_cafile=a.cafile, ssl_check_hostname=True)
    return config


def confluent_config(a, user, password):
    config = {"bootstrap.servers": a.bootstrap, "security.protocol": a.protocol,
              "sasl.mechanisms": a.mechanism, "sasl.username": user, "sasl.password": password}
    if a.cafile:
        config["ssl.ca.location"] = a.cafile
    return config


def kafka_python_ok(a):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    topic = f"kp-sec-{os.getpid()}"
    producer = KafkaProducer(acks="all", **kafka_python_config(a, a.user, a.password))
    futures = [producer.send(topic, key=b"k%d" % (i % 7), value=b"kp-%d" % i) for i in range(RECORDS)]
    producer.flush(60)
    offsets = {f.get(timeout=60).offset for f in futures}
    producer.close(10)
    if len(offsets) != RECORDS:
        fail(f"kafka-python: {len(offsets)} distinct offsets for {RECORDS} records")
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                             **kafka_python_config(a, a.user, a.password))
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = []
    deadline = time.monotonic() + 45
    while len(values) < RECORDS and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value for r in records)
    consumer.close()
    if values != [b"kp-%d" % i for i in range(RECORDS)]:
        fail(f"kafka-python read {len(values)} records, not the {RECORDS} it wrote in order")
    print(f"kafka-python: {RECORDS} records produced and read back over {a.protocol}/{a.mechanism}",
          flush=True)


class Captured(logging.Handler):
    """What kafka-python logs: it reports a failed authentication as a failed connection and
    keeps retrying until its bootstrap times out."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def kafka_python_refused(a, user, password):
    from kafka import KafkaAdminClient
    captured = Captured()
    logging.getLogger("kafka").addHandler(captured)
    logging.getLogger("kafka").setLevel(logging.DEBUG)
    try:
        admin = KafkaAdminClient(bootstrap_timeout_ms=8000,
                                 **kafka_python_config(a, user, password))
        admin.list_topics()
        fail(f"kafka-python with {user}/{password!r}: listed topics")
    except Exception as error:  # KafkaTimeoutError after the retries, or the auth error itself
        text = f"{type(error).__name__}: {error}"
    finally:
        logging.getLogger("kafka").removeHandler(captured)
    auth = [line for line in captured.lines + [text] if "SaslAuthenticationFailed" in line]
    if not auth:
        fail(f"kafka-python with {user}: no SASL authentication failure, but {text}")
    print(f"kafka-python with {user}/{password!r}: refused ({auth[0][:160]})", flush=True)


def confluent_ok(a):
    from confluent_kafka import Consumer, Producer, TopicPartition
    topic = f"ck-sec-{os.getpid()}"
    producer = Producer({**confluent_config(a, a.user, a.password), "acks": "all",
                         "enable.idempotence": True})
    delivered = []

    def report(error, message):
        if error is not None:
            fail(f"confluent-kafka delivery: {error}")
        delivered.append(message.offset())

    for i in range(RECORDS):
        producer.produce(topic, key=b"k%d" % (i % 7), value=b"ck-%d" % i, on_delivery=report)
        producer.poll(0)
    if producer.flush(60) != 0 or len(set(delivered)) != RECORDS:
        fail(f"confluent-kafka: {len(set(delivered))} of {RECORDS} delivered")
    consumer = Consumer({**confluent_config(a, a.user, a.password), "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + 45
    while len(values) < RECORDS and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    consumer.close()
    if values != [b"ck-%d" % i for i in range(RECORDS)]:
        fail(f"confluent-kafka read {len(values)} records, not the {RECORDS} it wrote in order")
    print(f"confluent-kafka: {RECORDS} records produced and read back over {a.protocol}/{a.mechanism}",
          flush=True)


def confluent_refused(a, user, password):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    errors = []
    admin = AdminClient({**confluent_config(a, user, password), "log_level": 0,
                         "error_cb": lambda error: errors.append(error)})
    try:
        admin.list_topics(timeout=10)
        fail(f"confluent-kafka with {user}/{password!r}: listed topics")
    except KafkaException:
        pass
    # Error callbacks are served by poll().
    deadline = time.monotonic() + 10
    auth = []
    while not auth and time.monotonic() < deadline:
        admin.poll(0.5)
        auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    if not auth:
        fail(f"confluent-kafka with {user}: no authentication error, got {errors}")
    print(f"confluent-kafka with {user}/{password!r}: refused ({auth[0].str()})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    for name in ("bootstrap", "protocol", "mechanism", "user", "password"):
        ap.add_argument(name)
    ap.add_argument("--cafile")
    a = ap.parse_args()
    kafka_python_ok(a)
    confluent_ok(a)
    for user, password in ((a.user, a.password + "-wrong"), ("nobody", a.password)):
        kafka_python_refused(a, user, password)
        confluent_refused(a, user, password)


if __name__ == "__main__":
    main()
