import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluicePolicy
@testable import SluiceSidecar
import SluiceTestKit
import Testing

/// A live sidecar swapping its policy: through `reload(policy:version:)` (the control
/// plane's entry point) and through checks of its policy file.
@Suite(.serialized) struct PolicyReloadTests {
    func get(_ url: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: try #require(URL(string: url)))
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    func errorCount(_ sidecar: Sidecar) -> String? {
        sidecar.metrics.exposition(now: 0).split(separator: "\n")
            .first { $0.hasPrefix("sluice_policy_reload_errors_total ") }
            .map { String($0.split(separator: " ")[1]) }
    }

    @Test func aReloadIsServedByNewCallsAndKeepsTheHealthRegistry() async throws {
        let harness = try await SluiceTestHarness.start()
        defer { Task { await harness.shutdown() } }
        var policy = SluiceTestHarness.policy(mockBaseURL: harness.mock.baseURL)
        #expect(try await get(harness.egressURL + "/v1/models").1.contains("\"quick\"") == false)
        policy.models["gpt-4o-mini"]?.aliases.append("quick")
        try harness.sidecar.reload(policy: policy, version: "v2")

        #expect(harness.sidecar.policyVersion == "v2")
        let (status, body) = try await get(harness.egressURL + "/v1/models")
        #expect(status == 200)
        #expect(body.contains("\"quick\""))
        for context in harness.sidecar.loops.all {
            let snapshot = try await context.eventLoop.submit { context.snapshot }.get()
            #expect(snapshot.version == "v2")
            #expect(snapshot.health === harness.sidecar.health)
        }
        let exposition = harness.sidecar.metrics.exposition(now: 0)
        #expect(exposition.contains(#"sluice_policy_info{version="v2"} 1"#))
        #expect(!exposition.contains(#"sluice_policy_info{version="test"}"#))
        #expect(errorCount(harness.sidecar) == "0")
    }

    @Test func aPolicyThatDoesNotCompileThrowsAndKeepsThePolicyInForce() async throws {
        let harness = try await SluiceTestHarness.start()
        defer { Task { await harness.shutdown() } }
        var policy = SluiceTestHarness.policy(mockBaseURL: harness.mock.baseURL)
        policy.providers["openai"]?.baseURL = "ftp://127.0.0.1:1"
        #expect(throws: RuntimeSnapshot.CompileError.self) { try harness.sidecar.reload(policy: policy, version: "bad") }
        #expect(harness.sidecar.policyVersion == "test")
        let snapshot = try await harness.sidecar.loops.all[0].eventLoop.submit { harness.sidecar.loops.all[0].snapshot }.get()
        #expect(snapshot.version == "test")
    }

    @Test func policyFileChecksApplyGoodTextAndCountBadTextOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("policy.yaml").path
        let harness = try await SluiceTestHarness.start(configure: { $0.policyFile = path })
        defer { Task { await harness.shutdown() } }
        let sidecar = harness.sidecar

        try "providers: [\n".write(toFile: path, atomically: true, encoding: .utf8)
        sidecar.checkPolicyFile(path, forced: false)
        #expect(errorCount(sidecar) == "1")
        sidecar.checkPolicyFile(path, forced: false)
        #expect(errorCount(sidecar) == "1", "the same bad text is reported once")
        sidecar.checkPolicyFile(path, forced: true)
        #expect(errorCount(sidecar) == "2", "a forced check reports it again")
        #expect(sidecar.policyVersion == "test")

        let good = """
            providers:
              openai: { kind: openai, base_url: "\(harness.mock.baseURL)", credential: { env: HARNESS_KEY } }
            models:
              gpt-4o-mini: { provider: openai, prices: { input: 1, output: 2 }, aliases: [filed] }
            """
        try good.write(toFile: path, atomically: true, encoding: .utf8)
        sidecar.checkPolicyFile(path, forced: false)
        #expect(sidecar.policyVersion == PolicyFingerprint.of(Data(good.utf8)))
        #expect(try await get(harness.egressURL + "/v1/models").1.contains("\"filed\""))
        #expect(errorCount(sidecar) == "2")
    }
}
