"""`python -m jobs.tail [--topic events.EVENT_A] [--from-beginning] [--max N]`

Prints events from the general topic or a derived per-type topic, like the proof of concept's
sample consumers. Uses its own consumer group (or none), so it never moves the pipeline's offsets.
"""

from __future__ import annotations

import argparse
import os
import sys

from confluent_kafka import Consumer, TopicPartition

from core.settings import KafkaSettings


def main(argv: list[str] | None = None) -> int:
    settings = KafkaSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", default=settings.topic)
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--max", type=int, default=0, help="stop after N events (0: run until Ctrl-C)")
    parser.add_argument(
        "--idle-exit", type=float, default=0, help="stop after this many idle seconds (0: never)"
    )
    args = parser.parse_args(argv)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": f"edp-tail-{os.getpid()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        }
    )
    meta = consumer.list_topics(args.topic, timeout=10).topics.get(args.topic)
    if meta is None or meta.error is not None:
        print(f"topic {args.topic!r} does not exist", file=sys.stderr)
        return 2
    offset = -2 if args.from_beginning else -1  # OFFSET_BEGINNING / OFFSET_END
    consumer.assign([TopicPartition(args.topic, p, offset) for p in meta.partitions])
    seen, idle = 0, 0.0
    try:
        while not args.max or seen < args.max:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 0.5
                if args.idle_exit and idle >= args.idle_exit:
                    break
                continue
            idle = 0.0
            if msg.error():
                print(f"error: {msg.error()}", file=sys.stderr)
                continue
            value = msg.value() or b""
            print(
                f"{msg.topic()}[{msg.partition()}]@{msg.offset()} {value.decode('utf-8', 'replace')}",
                flush=True,
            )
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
