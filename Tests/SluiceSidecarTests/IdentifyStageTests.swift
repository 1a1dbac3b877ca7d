import Testing
@testable import SluiceSidecar

@Suite struct IdentifyStageTests {
    let stage = IdentifyStage(defaults: Attribution(tenant: "payments", feature: "checkout"))

    @Test func defaultsApplyWithoutHeaders() throws {
        let call = try makeCall()
        #expect(run([stage], call) == nil)
        #expect(call.attribution == Attribution(tenant: "payments", feature: "checkout"))
    }

    @Test func headersOverrideDefaults() throws {
        let call = try makeCall(headers: [
            ("x-sluice-tenant", "search"), ("x-sluice-feature", "autocomplete"), ("x-sluice-user", "u-42"),
            ("x-sluice-prompt-version", "v7"), ("x-sluice-priority", "Batch"),
        ])
        #expect(run([stage], call) == nil)
        #expect(call.attribution == Attribution(tenant: "search", feature: "autocomplete", user: "u-42", promptVersion: "v7", priority: .batch))
    }

    @Test func badPriorityIsRejected() throws {
        let call = try makeCall(headers: [("x-sluice-priority", "urgent")])
        let reply = try #require(run([stage], call))
        #expect(reply.status == 400)
        #expect(reply.body.contains("interactive or batch"))
    }

    @Test func oversizedOrQuotedValuesAreRejected() throws {
        let long = try makeCall(headers: [("x-sluice-user", String(repeating: "a", count: 200))])
        #expect(run([stage], long)?.status == 400)
        let quoted = try makeCall(headers: [("x-sluice-feature", "a\"b")])
        #expect(run([stage], quoted)?.status == 400)
    }
}
