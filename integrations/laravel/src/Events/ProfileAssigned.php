<?php

namespace Switchboard\Laravel\Events;

/** `profile.assigned`: a moderator now holds a profile. */
class ProfileAssigned extends SwitchboardEvent
{
}
