<?php

namespace Switchboard\Laravel\Tests;

use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Exceptions\ConfigurationException;
use Switchboard\Laravel\Tests\Support\Service;
use Switchboard\Laravel\Webhooks\InvalidWebhookException;
use Switchboard\Laravel\Webhooks\WebhookVerifier;

/**
 * The verifier against deliveries the npm `standardwebhooks` reference library signed
 * (crates/server/tests/laravel/sign.mjs): same verdict on every case, with the clock set
 * to the case's instant.
 */
final class WebhookVerifierTest extends TestCase
{
    public function test_agrees_with_the_reference_library_on_every_case(): void
    {
        $fixtures = Service::webhookFixtures();
        $this->assertGreaterThan(10, count($fixtures['cases']));

        foreach ($fixtures['cases'] as $case) {
            $verifier = new WebhookVerifier($fixtures['secret'], $fixtures['tolerance_seconds'], static function () use ($case): int {
                return $case['now'];
            });
            $headers = $case['headers'];
            try {
                $verifier->verify($headers['webhook-id'] ?? null, $headers['webhook-timestamp'] ?? null, $headers['webhook-signature'] ?? null, $case['body']);
                $verdict = true;
            } catch (InvalidWebhookException $refusal) {
                $verdict = false;
            }
            $this->assertSame($case['valid'], $verdict, "case \"{$case['name']}\"");
        }
    }

    public function test_the_secret_may_be_given_without_its_prefix(): void
    {
        $fixtures = Service::webhookFixtures();
        $case = $fixtures['cases'][0];
        $this->assertTrue($case['valid']);
        $verifier = new WebhookVerifier(substr($fixtures['secret'], strlen('whsec_')), 300, static function () use ($case): int {
            return $case['now'];
        });

        $verifier->verify($case['headers']['webhook-id'], $case['headers']['webhook-timestamp'], $case['headers']['webhook-signature'], $case['body']);

        $this->addToAssertionCount(1);
    }

    public function test_a_secret_that_is_not_base64_is_a_configuration_error(): void
    {
        $this->expectException(ConfigurationException::class);

        new WebhookVerifier('whsec_not base64!');
    }
}
