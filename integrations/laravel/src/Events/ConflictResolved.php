<?php

namespace Switchboard\Laravel\Events;

/** `conflict.resolved`: moderators who reached the same client were settled. */
class ConflictResolved extends SwitchboardEvent
{
}
