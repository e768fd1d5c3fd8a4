"""Reads a run folder's TensorBoard event files with TensorBoard's own EventAccumulator and
prints {"scalars": {tag: [[step, value], ...]}, "histograms": [tags]} as JSON."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "histograms": 0})
acc.Reload()
tags = acc.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "histograms": tags["histograms"],
}))
