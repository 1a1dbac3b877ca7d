import ArgumentParser
import Foundation
import SluiceSnapshot

/// `sluice keygen --out DIR`: writes a new Ed25519 pair, `signing.key` (0600) and `signing.pub` (0644).
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new Ed25519 snapshot signing key pair: DIR/signing.key (0600) and DIR/signing.pub."
    )

    @Option(name: .long, help: "Directory for signing.key and signing.pub (created if missing).")
    var out: String

    @Flag(name: .long, help: "Replace existing key files.")
    var force = false

    func run() throws {
        do {
            let written = try KeyFile.generate(into: out, force: force)
            print("wrote \(written.signingKeyPath) (private: keep it on the control plane only)")
            print("wrote \(written.publicKeyPath) (public: give it to sidecars as --trust-key)")
        } catch {
            FileHandle.standardError.write(Data("sluice keygen: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}
