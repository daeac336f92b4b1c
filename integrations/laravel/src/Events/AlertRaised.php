<?php

namespace Switchboard\Laravel\Events;

/** `alert.raised`: the monitor raised an alert for supervisors. */
class AlertRaised extends SwitchboardEvent
{
}
