import { parseArgs } from "node:util";
import { adminClient, adminTokenOf, CliError, EXIT, instanceUrl, loadCliConfig } from "./admin-client.js";
import * as commands from "./commands.js";

export const USAGE = `Usage: parley <command> [options]

  accounts create <name> [--display-name <text>]   a local account; prints its id and first token
  accounts list                                    the local accounts
  accounts delete <name>                           deletes the account (the name stays reserved)
  accounts token <name>                            prints a new token of the account
  domain-blocks add <host>                         refuses the host's activities, sends it nothing
  domain-blocks list
  domain-blocks remove <host>

Options:
  --url <url>   the instance to talk to (default: http://127.0.0.1:$PORT, from the environment)
  --json        print the instance's JSON instead of lines

Run it with the environment of \`npm start\` (PORT, DATA_DIR or ADMIN_TOKEN): it calls the running
instance's admin API with its ADMIN_TOKEN.`;

/** Runs one command line; returns the exit code (0: done). */
export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
  warn: (line: string) => void,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "display-name": { type: "string" },
        url: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    warn(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  // `npx parley --help` is npx's own help: `npx parley help` is the way to ask this one.
  const help = values.help || positionals[0] === "help";
  if (help || positionals.length === 0) {
    (help ? print : warn)(USAGE);
    return help ? 0 : EXIT.usage;
  }
  const [group, action, name, ...extra] = positionals;
  const run = commandOf(group, action, name, values["display-name"]);
  if (!run || extra.length > 0) {
    warn(`unknown command: parley ${positionals.join(" ")}\n\n${USAGE}`);
    return EXIT.usage;
  }
  try {
    const config = loadCliConfig(env);
    const client = adminClient(instanceUrl(config, values.url), await adminTokenOf(config));
    await run(client, { json: values.json ?? false, print });
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    warn(`parley: ${error.message}`);
    return error.exitCode;
  }
}

type Run = (client: Parameters<typeof commands.listAccounts>[0], out: commands.Output) => Promise<void>;

function commandOf(group: string, action: string | undefined, name: string | undefined, displayName: string | undefined): Run | undefined {
  const named = (fn: (c: Parameters<Run>[0], o: commands.Output, n: string) => Promise<void>): Run | undefined =>
    name ? (client, out) => fn(client, out, name) : undefined;
  const bare = (fn: Run): Run | undefined => (name === undefined ? fn : undefined);
  if (group === "accounts") {
    if (action === "create") return named((c, o, n) => commands.createAccount(c, o, n, displayName));
    if (action === "list") return bare(commands.listAccounts);
    if (action === "delete") return named(commands.deleteAccount);
    if (action === "token") return named(commands.issueAccountToken);
  }
  if (group === "domain-blocks") {
    if (action === "add") return named(commands.addDomainBlock);
    if (action === "list") return bare(commands.listDomainBlocks);
    if (action === "remove") return named(commands.removeDomainBlock);
  }
  return undefined;
}
