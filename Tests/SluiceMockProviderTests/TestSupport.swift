import Foundation
import SluiceMockProvider

/// An HTTP exchange as seen by curl.
struct HTTPResult {
    var exitCode: Int32
    var status: Int
    /// Lower-cased names.
    var headers: [String: String]
    var body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(self.body.utf8))) as? [String: Any] ?? [:]
    }

    /// The SSE events of the body, in order.
    var events: [SSEEvent] {
        self.body.components(separatedBy: "\n\n").compactMap { block -> SSEEvent? in
            var name: String?
            var data: String?
            for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            guard let data else { return nil }
            return SSEEvent(name: name, data: data)
        }
    }
}

struct SSEEvent {
    var name: String?
    var data: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(self.data.utf8))) as? [String: Any] ?? [:]
    }
}

enum Curl {
    /// Runs curl with `arguments`; returns its exit code.
    @discardableResult
    static func run(_ arguments: [String]) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "--noproxy", "*", "-H", "Expect:"] + arguments
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// One request; the body is sent as JSON when given.
    static func request(
        _ url: String,
        method: String = "POST",
        json: String? = nil,
        headers: [String: String] = [:],
        extra: [String] = []
    ) async throws -> HTTPResult {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = ["-i", "-X", method, "-o", output.path]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            arguments += ["-H", "\(name): \(value)"]
        }
        if let json {
            arguments += ["-H", "content-type: application/json", "--data-binary", json]
        }
        arguments += extra + [url]
        let code = try await self.run(arguments)
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return self.parse(text, exitCode: code)
    }

    private static func parse(_ text: String, exitCode: Int32) -> HTTPResult {
        var rest = Substring(text)
        var status = 0
        var headers: [String: String] = [:]
        // Skip any interim (1xx) heads.
        while let end = rest.range(of: "\r\n\r\n") {
            let head = rest[..<end.lowerBound]
            rest = rest[end.upperBound...]
            let lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.first ?? ""
            status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
            headers = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            if status >= 200 { break }
        }
        return HTTPResult(exitCode: exitCode, status: status, headers: headers, body: String(rest))
    }
}

/// Starts a mock, runs `body`, shuts it down.
func withMock<T>(
    _ configuration: MockProviderConfiguration = MockProviderConfiguration(),
    _ body: (MockProvider) async throws -> T
) async throws -> T {
    let mock = try await MockProvider.start(configuration)
    do {
        let result = try await body(mock)
        try await mock.shutdown()
        return result
    } catch {
        try? await mock.shutdown()
        throw error
    }
}

/// Runs a shell script (for openssl) and fails when it fails.
func shell(_ script: String, in directory: URL) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    process.currentDirectoryURL = directory
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        throw ShellError(status: process.terminationStatus)
    }
}

struct ShellError: Error {
    var status: Int32
}

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    func object(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
    func array(_ key: String) -> [Any]? { self[key] as? [Any] }
    func string(_ key: String) -> String? { self[key] as? String }
}
