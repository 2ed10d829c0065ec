// Sweep grids, the manifest and the sbatch script: grid text and CSV points expand to the right
// points in the right order, sweep.json round-trips and notices a changed notebook or grid, and
// the Slurm array script carries the options and only the pending indices.
import Foundation
import QATInterp
import Testing

@testable import QATSweep
@testable import QATToolkit

@Suite struct SweepGridTests {
    @Test func gridExpandsTheProductFirstNameSlowest() throws {
        let g = try SweepGrid.parse("bits=[2 3] group=[64 128] seed=[1 2 3]")
        #expect(g.names == ["bits", "group", "seed"])
        #expect(g.points.count == 12)
        #expect(g.points[0] == ["2", "64", "1"])
        #expect(g.points[1] == ["2", "64", "2"])
        #expect(g.points[3] == ["2", "128", "1"])
        #expect(g.points[11] == ["3", "128", "3"])
        #expect(Set(g.points.map { $0.joined(separator: ",") }).count == 12)
    }

    @Test func gridAcceptsCommasQuotesAndSingleValues() throws {
        let g = try SweepGrid.parse(" method=[rtn, \"gptq\"]  calib=\"my text\" bits=4 ")
        #expect(g.names == ["method", "calib", "bits"])
        #expect(g.points == [["rtn", "my text", "4"], ["gptq", "my text", "4"]])
        #expect(try SweepGrid.parse("") == SweepGrid.single)
    }

    @Test func badGridsSayWhatIsWrong() {
        func message(_ text: String) -> String {
            do { _ = try SweepGrid.parse(text); return "" } catch { return "\(error)" }
        }
        #expect(message("bits=[2 3").contains("not closed"))
        #expect(message("bits=[2] bits=[3]").contains("bits is given twice"))
        #expect(message("2bits=[2]").contains("not a variable name"))
        #expect(message("bits=[]").contains("has no values"))
        #expect(message("bits").contains("expected bits=[values]"))
    }

    @Test func pointsFileListsPointsAndCrossesWithTheGrid() throws {
        let dir = try ScratchDir("sweep-points")
        try "bits,group\r\n2,64\r\n4,128\r\n".write(toFile: dir.sub("p.csv"), atomically: true, encoding: .utf8)
        var g = try SweepGrid.load(csv: dir.sub("p.csv"))
        #expect(g.names == ["bits", "group"])
        #expect(g.points == [["2", "64"], ["4", "128"]])
        try g.cross(with: try SweepGrid.parse("seed=[7 8]"), what: "test")
        #expect(g.points == [["2", "64", "7"], ["2", "64", "8"], ["4", "128", "7"], ["4", "128", "8"]])
        try "bits,group\n2\n".write(toFile: dir.sub("bad.csv"), atomically: true, encoding: .utf8)
        #expect(throws: VerbError.self) { try SweepGrid.load(csv: dir.sub("bad.csv")) }
    }

    @Test func manifestRoundTripsAndNoticesChanges() throws {
        let dir = try ScratchDir("sweep-manifest")
        let nb = dir.sub("nb.qat")
        try "record results x=$bits\n".write(toFile: nb, atomically: true, encoding: .utf8)
        let grid = try SweepGrid.parse("bits=[2 3] seed=[1 2]")
        let m = try SweepManifest(notebook: nb, grid: grid, common: ["quick": "1"], dir: dir.sub("out"), backend: "local")
        let sd = SweepDir(dir.sub("out"))
        try sd.makeDirectories()
        try m.write(to: sd)
        let back = try SweepManifest.read(from: sd)
        #expect(back == m)
        #expect(back.tasks.count == 4)
        #expect(back.tasks[2].vars == ["bits": "3", "seed": "1"])
        #expect(back.variables(of: 2).map { "\($0.0)=\($0.1)" } == ["bits=3", "seed=1", "quick=1"])
        #expect(back.notebookHash.count == 16)
        #expect(back.conflict(with: m) == nil)

        let other = try SweepManifest(notebook: nb, grid: try SweepGrid.parse("bits=[2 3]"), common: ["quick": "1"], dir: sd.path, backend: "local")
        #expect(other.conflict(with: m)?.contains("grid differs") == true)
        try "record results x=$bits y=1\n".write(toFile: nb, atomically: true, encoding: .utf8)
        let edited = try SweepManifest(notebook: nb, grid: grid, common: ["quick": "1"], dir: sd.path, backend: "local")
        #expect(edited.conflict(with: m)?.contains("notebook changed") == true)
        #expect(sd.result(7).hasSuffix("/tasks/0007.h5"))
        #expect(sd.task(12345, "log").hasSuffix("/tasks/12345.log"))
    }

    @Test func fnvMatchesPublishedVectors() {
        #expect(fnv1a64(Array("".utf8)) == 0xcbf2_9ce4_8422_2325)
        #expect(fnv1a64(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(fnv1a64(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    }

    @Test func sbatchScriptHoldsTheOptionsAndPendingTasks() throws {
        #expect(SweepSlurm.arraySpec([0, 1, 2, 3]) == "0-3")
        #expect(SweepSlurm.arraySpec([5, 1, 4, 6, 9]) == "1,4-6,9")
        let dir = try ScratchDir("sweep-sbatch")
        let nb = dir.sub("nb.qat")
        try "record results x=1\n".write(toFile: nb, atomically: true, encoding: .utf8)
        let sd = SweepDir(dir.sub("out"))
        let m = try SweepManifest(notebook: nb, grid: try SweepGrid.parse("seed=[1 2 3 4]"), common: [:], dir: sd.path, backend: "slurm")
        var o = SweepSlurm.Options()
        o.cpus = 8; o.mem = "6G"; o.time = "02:00:00"; o.partition = "cpu"; o.account = "lab"; o.arrayMax = 2
        o.extra = ["--qos=low"]
        let s = SweepSlurm.script(dir: sd, m, indices: [0, 2, 3], options: o, executable: "/opt/qat/bin/qat")
        let lines = s.split(separator: "\n").map(String.init)
        for want in ["#SBATCH --array=0,2-3%2", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=6G", "#SBATCH --time=02:00:00",
                     "#SBATCH --partition=cpu", "#SBATCH --account=lab", "#SBATCH --qos=low",
                     "#SBATCH --output=\(sd.path)/slurm/%A_%a.out", "#SBATCH --chdir=\(m.cwd)",
                     "export QAT_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
                     "exec '/opt/qat/bin/qat' sweep-task '\(sd.path)' \"$SLURM_ARRAY_TASK_ID\""] {
            #expect(lines.contains(want), "missing: \(want)")
        }
        o.extra = ["qos=low"]
        #expect(throws: VerbError.self) { try SweepSlurm.validate(dir: sd, m, options: o) }
    }

    @Test func sweepWithoutOutOrWithSubmitZeroWritesOnlyTheScript() throws {
        let dir = try ScratchDir("sweep-verb")
        let nb = dir.sub("nb.qat")
        try "record results x=$seed\n".write(toFile: nb, atomically: true, encoding: .utf8)
        let s = Session()
        #expect(s.error("sweep \(nb) grid=\"seed=[1 2]\"")?.message.contains("needs out=DIR") == true)
        try s.run("sweep \(nb) grid=\"seed=[1 2]\" out=\(dir.sub("o")) backend=slurm submit=0 cpus=2 quick=1")
        #expect(s.lines.contains("sbatch=\(dir.sub("o"))/sweep.sbatch array=0-1"))
        let script = try String(contentsOfFile: dir.sub("o/sweep.sbatch"), encoding: .utf8)
        #expect(script.contains("#SBATCH --cpus-per-task=2"))
        let m = try SweepManifest.read(from: SweepDir(dir.sub("o")))
        #expect(m.common == ["quick": "1"])
        #expect(m.slurmJob == nil)
    }
}
