"""Trainers that ship with exptool. ``demo`` (:func:`exptool.examples.demo.train`) is always registered."""
