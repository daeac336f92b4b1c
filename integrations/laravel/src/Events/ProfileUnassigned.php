<?php

namespace Switchboard\Laravel\Events;

/** `profile.unassigned`: a moderator no longer holds a profile. */
class ProfileUnassigned extends SwitchboardEvent
{
}
