<?php

namespace Switchboard\Laravel\Events;

/** A type this version of the package does not name yet; `$type` says which. */
class UnknownEventReceived extends SwitchboardEvent
{
}
