"""Membrane mechanisms of cable cells (plug-ins: :mod:`wbe.cable.channels.base`)."""

from .base import CHANNELS, Channel, channel, ordered

__all__ = ["CHANNELS", "Channel", "channel", "ordered"]
