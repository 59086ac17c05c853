"""Signals a batch system sends: SIGUSR1 (sbatch --signal=USR1@120: the time limit is near) asks for a checkpoint at
the next step boundary and training goes on; SIGTERM (scancel, preemption, the time limit itself) and SIGINT ask for a
checkpoint now and an exit.

A Python signal handler runs only when the main thread is between bytecodes, which can be minutes away inside a long
step or a collective that waits for a rank that is already gone. So the handlers do nothing themselves: each signal's
number is also written to a wake-up pipe (signal.set_wakeup_fd) the moment it arrives, and a watcher thread reading that
pipe acts at once. The state it saves is consistent whenever the trainer's lock is free: LoRA weights, AdamW moments
and the position change together, under that lock, only at a step boundary.
"""
import os
import signal
import threading


class SignalWatch:
    def __init__(self, on_terminate):
        self.on_terminate = on_terminate
        self.checkpoint_requested = threading.Event()
        self.terminating = threading.Event()
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._noted)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="signal-watch", daemon=True).start()

    def _noted(self, signum, frame):
        # Replaces the default action (death); the watcher thread acts on the byte the wake-up fd received.
        pass

    def _watch(self):
        while True:
            for signum in os.read(self._read, 64):
                if signum == signal.SIGUSR1:
                    self.checkpoint_requested.set()
                elif signum in (signal.SIGTERM, signal.SIGINT) and not self.terminating.is_set():
                    self.terminating.set()
                    self.on_terminate(signal.Signals(signum))
