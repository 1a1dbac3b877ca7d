import ArgumentParser
import Foundation
import SluicePolicy

/// `sluice validate FILE…`: checks policy files and reports every problem at once.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check policy files; print FILE:LINE:COLUMN: field: message for every problem."
    )

    @Argument(help: "Policy files to check.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            do {
                let policy = try PolicyLoader.load(contentsOf: file)
                print("\(file): ok (\(policy.providers.count) providers, \(policy.models.count) models, \(policy.routes.count) routes)")
            } catch {
                failed = true
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
            }
        }
        if failed { throw ExitCode(1) }
    }
}
