import { MlsClient, type MlsObject } from "../helpers/mls-client.js";

/**
 * The test client itself, three members in one group without any server: each object goes
 * through JSON inside a Create, as it would on the wire, before the others read it.
 */

const ALICE = "https://a.example/users/alice";
const BOB = "https://b.example/users/bob";
const CAROL = "https://b.example/users/carol";

/** What a recipient reads after the object crossed two servers as JSON. */
function overTheWire(object: MlsObject, actor: string, to: string[]): MlsObject {
  const create = { type: "Create", actor, to, object: { ...object, attributedTo: actor, to } };
  return JSON.parse(JSON.stringify(create)).object;
}

const textOf = (activity: Record<string, unknown> | undefined) => (activity?.object as { content?: string } | undefined)?.content;

it("alice creates a group with bob and carol; they talk; bob removes carol; a concurrent Commit loses and recovers", async () => {
  const [alice, bob, carol] = await Promise.all([MlsClient.create(ALICE), MlsClient.create(BOB), MlsClient.create(CAROL)]);

  await alice.createGroup("group-1");
  const bobPackage = overTheWire(bob.keyPackageObject(), BOB, ["https://www.w3.org/ns/activitystreams#Public"]);
  const carolPackage = overTheWire(carol.keyPackageObject(), CAROL, ["https://www.w3.org/ns/activitystreams#Public"]);
  const { commit, welcome } = await alice.add([bobPackage, carolPackage]);
  expect(commit.type).toBe("PrivateMessage");
  alice.accepted();
  expect(welcome).toBeDefined();
  await bob.join(overTheWire(welcome!, ALICE, [BOB, CAROL]));
  await carol.join(overTheWire(welcome!, ALICE, [BOB, CAROL]));
  expect([alice.epoch, bob.epoch, carol.epoch]).toEqual([1n, 1n, 1n]);

  const hello = overTheWire(await bob.send("hello from bob"), BOB, [ALICE, CAROL]);
  expect(textOf(await alice.receive(hello))).toBe("hello from bob");
  expect(textOf(await carol.receive(hello))).toBe("hello from bob");
  const reply = overTheWire(await carol.send("hi all"), CAROL, [ALICE, BOB]);
  expect(textOf(await alice.receive(reply))).toBe("hi all");
  expect(textOf(await bob.receive(reply))).toBe("hi all");
  const third = overTheWire(await alice.send("welcome both"), ALICE, [BOB, CAROL]);
  expect((await bob.receive(third))?.type).toBe("Create");
  expect(textOf(await carol.receive(third))).toBe("welcome both");

  // Bob removes carol; the Commit goes to alice and to carol herself.
  const removal = await bob.remove(CAROL);
  expect(removal.welcome).toBeUndefined();
  bob.accepted();
  const removalOnWire = overTheWire(removal.commit, BOB, [ALICE, CAROL]);
  expect(await alice.receive(removalOnWire)).toBeUndefined();
  expect([alice.epoch, bob.epoch]).toEqual([2n, 2n]);
  const secret = overTheWire(await alice.send("carol is gone"), ALICE, [BOB, CAROL]);
  expect(textOf(await bob.receive(secret))).toBe("carol is gone");
  await expect(carol.receive(secret)).rejects.toThrow();

  // Alice and bob commit at the same epoch; the server keeps alice's, bob's gets a 409.
  await expect(alice.remove(CAROL)).rejects.toThrow("not a member");
  await carol.newKeyPackage();
  const dave = await MlsClient.create("https://a.example/users/dave");
  const winner = await alice.add([overTheWire(dave.keyPackageObject(), "https://a.example/users/dave", [])]);
  const loser = await bob.add([overTheWire(carol.keyPackageObject(), CAROL, [])]);
  alice.accepted();
  bob.rejected();
  expect(bob.epoch).toBe(2n);
  await bob.receive(overTheWire(winner.commit, ALICE, [BOB]));
  await dave.join(overTheWire(winner.welcome!, ALICE, ["https://a.example/users/dave"]));
  expect([alice.epoch, bob.epoch, dave.epoch]).toEqual([3n, 3n, 3n]);
  expect(loser.commit.content).not.toBe(winner.commit.content);

  const after = overTheWire(await bob.send("still in sync"), BOB, [ALICE, "https://a.example/users/dave"]);
  expect(textOf(await alice.receive(after))).toBe("still in sync");
  expect(textOf(await dave.receive(after))).toBe("still in sync");
});

it("a Commit can travel as a PublicMessage and a GroupInfo can be produced", async () => {
  const [alice, bob] = await Promise.all([MlsClient.create(ALICE), MlsClient.create(BOB)]);
  await alice.createGroup("group-2");
  const { commit, welcome } = await alice.add([bob.keyPackageObject()], { publicMessage: true });
  expect(commit.type).toBe("PublicMessage");
  alice.accepted();
  await bob.join(welcome!);
  expect((await alice.groupInfoObject()).type).toBe("GroupInfo");
  expect(textOf(await alice.receive(await bob.send("x")))).toBe("x");
});
