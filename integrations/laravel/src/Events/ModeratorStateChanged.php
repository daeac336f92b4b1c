<?php

namespace Switchboard\Laravel\Events;

/** `moderator.state_changed`: offline, queued, working, paused or away. */
class ModeratorStateChanged extends SwitchboardEvent
{
}
