"""Whether a resource name changes with every stack created: the reading behind rule HyperPod-RET2.

A retained resource with a fixed name makes the next deploy of the same template fail with
``AlreadyExists``. A name differs per stack when it uses the unique part of ``AWS::StackId`` (its UUID,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html), the
generated name of a resource of the same template, or an ID AWS makes for each new resource. The answer is
True, False, or None ("maybe"): a choice left in a resolved template (``Fn::If`` of a condition,
``Fn::Select`` of an index, not known offline) with a fixed option may be fixed (review round 17, R17T-H1;
round 18, R18T-H1), and so may a value of another resource this module does not know (review round 19,
R19R-H1). Choices known offline are already made by ``cfn_template._Resolver``.

Cost: each name is answered once per rule run, after the names it uses (Tarjan's strongly connected
components, iterative), and each expression object once (memoised by identity, so a YAML alias shared
by many names is read once). Linear in the template, however names refer to each other (review round
18, R18T-L2: the previous depth-capped walk re-read a dense name graph per resource, 40 s for 500 names);
a circle of names, which CloudFormation refuses, is read within a budget (R19R-M2).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping

from hyperpod_cdk.rules.model import Json
from hyperpod_cdk.specs.fn_sub import SubPart, sub_names, substitute

Answer = bool | None

_STACK_ID = {"Ref": "AWS::StackId"}
_NO_VALUE = {"Ref": "AWS::NoValue"}

#: Attributes of a resource with a template-given name that carry that name (an ARN, a domain name).
_NAME_ATTRIBUTES = frozenset(
    {
        "Arn",
        "Name",
        "DomainName",
        "RegionalDomainName",
        "DualStackDomainName",
        "WebsiteURL",
        "QueueName",
        "TopicName",
        "QueueUrl",
        "TopicArn",
    }
)
#: Attributes that are IDs AWS makes for each new resource, whatever its name (an IAM role's RoleId).
_UNIQUE_ATTRIBUTES = frozenset({"RoleId", "PolicyId", "UniqueId", "GroupId", "KeyId", "Id"})

#: Listed types whose ``Ref`` is not their name but an ID made for each new resource: a VPC security group's
#: ``sg-`` id, a secret's ARN with a random suffix (review round 20, R20T-L3).
_REF_IS_ID = frozenset({"AWS::EC2::SecurityGroup", "AWS::SecretsManager::Secret"})

#: Types whose ``Ref`` is the name in this property, or a name CloudFormation generates when it is left out
#: (each type's "Return values" in the template reference); not in RET2's own list of unique names.
REF_IS_NAME: dict[str, str] = {
    "AWS::CodeBuild::Project": "Name",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Batch::JobQueue": "JobQueueName",
}

#: Types whose ``Ref`` is an ID AWS makes for each new resource (``vpc-...``, ``subnet-...``, a KMS key
#: id, ``fs-...``), and the attributes that are such IDs too ("Return values" of each type in the
#: CloudFormation template reference, https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/).
GENERATED_ID_TYPES: dict[str, frozenset[str]] = {
    "AWS::EC2::VPC": frozenset({"VpcId"}),
    "AWS::EC2::Subnet": frozenset({"SubnetId"}),
    "AWS::EC2::Instance": frozenset({"InstanceId"}),
    "AWS::EC2::NetworkInterface": frozenset({"Id"}),
    "AWS::EC2::VPCEndpoint": frozenset({"Id"}),
    "AWS::KMS::Key": frozenset({"Arn", "KeyId"}),
    "AWS::FSx::FileSystem": frozenset({"DNSName", "ResourceARN"}),
    "AWS::EFS::FileSystem": frozenset({"Arn", "FileSystemId"}),
    "AWS::CloudFormation::WaitConditionHandle": frozenset(),
}
_CIRCLE_READS = 8  # readings of a whole circle of names, at most

#: Stands for one character of the stack id's UUID in the sample stack ids below.
_UUID_CHAR = "\ue000"
_UUID = "-".join(_UUID_CHAR * length for length in (8, 4, 4, 4, 12))
#: Stack ids to read parts of ``AWS::StackId`` on (``arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/UUID``).
#: Two, because a partition, region or stack name may hold hyphens, which move the items ``Fn::Split "-"``
#: gives: a part is unique only when it holds UUID characters in both (review round 18, R18T-L1: the stack
#: name, ``Fn::Select [1, Fn::Split ["/", AWS::StackId]]``, is kept by a redeploy).
_SAMPLE_STACK_IDS = (
    f"arn:aws:cloudformation:us-west-2:123456789012:stack/hyperpod/{_UUID}",
    f"arn:aws-us-gov:cloudformation:us-gov-west-1:123456789012:stack/hyper-pod-training-platform/{_UUID}",
)


def any_of(answers: Iterable[Answer]) -> Answer:
    """A value made of parts differs when any part does; otherwise it may when any part may."""
    result: Answer = False
    for answer in answers:
        if answer:
            return True
        if answer is None:
            result = None
    return result


def one_of(answers: Iterable[Answer]) -> Answer:
    """A choice made at deploy differs when every option does, is fixed when none does, else maybe."""
    seen = set(answers)
    return seen.pop() if len(seen) == 1 else None


class NameWalk:
    """Answers "does this name expression differ per stack?" for one template's ``Resources``.

    ``unique_name_properties`` maps a type to the property holding a name the template may fix; a
    resource of another type, or one whose name the template leaves out, gets a generated name.
    """

    def __init__(self, resources: Mapping[str, Json], unique_name_properties: Mapping[str, str]) -> None:
        self.resources = resources
        self.unique_name_properties = unique_name_properties
        self.settled: dict[str, Answer] = {}
        self.steps = 0  # expression objects read, for tests
        self._memo: dict[int, Answer] = {}
        self._uses_memo: dict[str, list[str]] = {}
        self._texts: TextMemo = {}
        self._reads = 0
        self._sub_names_memo: dict[int, tuple[str, list[str]]] = {}

    def differs(self, value: Json) -> Answer:
        if id(value) in self._memo:  # one name expression aliased by many resources
            return self._memo[id(value)]
        self._settle(self._names_used(value))
        return self._whole_name(value)

    def _whole_name(self, value: Json) -> Answer:
        # The name property itself (or an Fn::If option of it) as AWS::NoValue: the property is left out
        # and CloudFormation generates the name (R19R-L: it was read as a fixed pseudo parameter).
        if value == _NO_VALUE:
            return True
        if isinstance(value, Mapping) and len(value) == 1 and "Fn::If" in value:
            arg = value["Fn::If"]
            if isinstance(arg, list) and len(arg) == 3:
                return one_of(self._whole_name(option) for option in arg[1:])
        return self._value(value, self._memo)

    def _sub_names(self, text: str) -> list[str]:
        """The variables of an Fn::Sub string, read once per string object (a YAML alias of a long string
        is one object: R19R-M1)."""
        held = self._sub_names_memo.get(id(text))
        if held is None or held[0] is not text:
            held = self._sub_names_memo[id(text)] = (text, list(sub_names(text)))
        return held[1]

    # -- names, in dependency order ---------------------------------------------------------------

    def _name_of(self, logical_id: str) -> Json | None:
        """The name expression the template gives ``logical_id``; None when the name is generated."""
        body = self.resources.get(logical_id)
        if not isinstance(body, Mapping):
            return None
        prop = self.unique_name_properties.get(str(body.get("Type")))
        props = body.get("Properties")
        if prop is None or not isinstance(props, Mapping) or prop not in props:
            return None
        value: Json = props[prop]
        return value

    def _uses(self, logical_id: str) -> list[str]:
        """The names ``logical_id``'s name uses, found once per rule run."""
        if logical_id not in self._uses_memo:
            self._uses_memo[logical_id] = self._names_used(self._name_of(logical_id))
        return self._uses_memo[logical_id]

    def _names_used(self, value: Json) -> list[str]:
        """Resources with a template-given name that ``value`` refers to (Ref, GetAtt, ``${}`` of Fn::Sub)."""
        found: dict[str, None] = {}
        seen: set[int] = set()
        todo = [value]
        while todo:
            item = todo.pop()
            if not isinstance(item, Mapping | list) or id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, Mapping):
                targets = _targets(item, self._sub_names)
                found.update(dict.fromkeys(t for t in targets if self._name_of(t) is not None))
                todo.extend(item.values())
            else:
                todo.extend(item)
        return list(found)

    def _settle(self, roots: list[str]) -> None:
        """Answer every name reachable from ``roots``, each after the names it uses: Tarjan's strongly
        connected components, iterative (a chain of names as long as the template is no deeper a stack)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: dict[str, int] = {}  # name -> its place in ``stack``
        work: list[tuple[str, Iterator[str]]] = []

        def enter(node: str) -> None:
            index[node] = low[node] = len(index)
            on_stack[node] = len(stack)
            stack.append(node)
            work.append((node, iter(self._uses(node))))

        for root in roots:
            if root in self.settled or root in index:
                continue
            enter(root)
            while work:
                node, edges = work[-1]
                for target in edges:
                    if target in self.settled:
                        continue
                    if target not in index:
                        enter(target)
                        break
                    if target in on_stack:
                        low[node] = min(low[node], index[target])
                else:
                    work.pop()
                    if work:
                        parent = work[-1][0]
                        low[parent] = min(low[parent], low[node])
                    if low[node] == index[node]:
                        component = stack[on_stack[node] :]
                        del stack[on_stack[node] :]
                        for name in component:
                            del on_stack[name]
                        self._answer(component)

    def _answer(self, component: list[str]) -> None:
        if len(component) == 1 and component[0] not in self._uses(component[0]):
            (name,) = component
            self.settled[name] = self._value(self._name_of(name), self._memo)
        else:
            self._answer_circle(component)

    def _answer_circle(self, component: list[str]) -> None:
        """Names that use each other in a circle. CloudFormation refuses such a template ("Circular
        dependency between resources"), but the answer must not depend on which name is read first
        (review round 16, R16T-M1): start from "fixed" and raise answers until they hold. Every step only
        raises an answer (fixed, maybe, differs), so this ends; past a few readings per name, what could rise
        is "maybe", which never hides a fixed name. A memo per reading: the shared one keeps final answers.

        The work is capped at a few times one reading of every name (review round 19, R19R-M2: one long name
        using 400 others was read again after each of them changed, 113 s), not at a count of readings."""
        members = set(component)
        users: dict[str, list[str]] = {name: [] for name in component}
        for name in component:
            for used in self._uses(name):
                if used in members:
                    users[used].append(name)
        self.settled.update(dict.fromkeys(component, False))
        queue, queued = deque(component), set(component)
        start, budget = self._reads, None
        while queue:
            if budget is not None and self._reads - start > budget:
                self.settled.update({name: None for name in component if self.settled[name] is not True})
                return
            name = queue.popleft()
            queued.discard(name)
            answer = self._value(self._name_of(name), {})
            if answer != self.settled[name]:
                self.settled[name] = answer
                fresh = [user for user in users[name] if user not in queued]
                queue.extend(fresh)
                queued.update(fresh)
            if name == component[-1] and budget is None:  # the first reading of every name is done
                budget = _CIRCLE_READS * (self._reads - start)

    # -- one expression ---------------------------------------------------------------------------

    def _value(self, value: Json, memo: dict[int, Answer]) -> Answer:
        self._reads += 1  # every value read, literals included: the budget of a circle of names
        if not isinstance(value, Mapping | list):
            return False  # a literal
        key = id(value)
        if key not in memo:
            self.steps += 1
            memo[key] = self._container(value, memo)
        return memo[key]

    def _container(self, value: Mapping[str, Json] | list[Json], memo: dict[int, Answer]) -> Answer:
        if value == _STACK_ID:
            return True
        if isinstance(value, Mapping) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self._resource(arg, None) if isinstance(arg, str) else None
            if fn == "Fn::GetAtt":
                target = _get_att(arg)
                return self._resource(*target) if target else None
            if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                return one_of(self._value(option, memo) for option in arg[1:])
            if fn == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
                return self._select(arg[0], arg[1], memo)
            if fn == "Fn::Sub":
                return self._sub(arg, memo)
        items = value.values() if isinstance(value, Mapping) else value
        return any_of(self._value(item, memo) for item in items)

    def _resource(self, logical_id: str, attribute: str | None) -> Answer:
        """A ``Ref`` (``attribute`` None) or ``GetAtt`` of ``logical_id``: a parameter or pseudo parameter is
        the same on every deploy; a name this template fixes is as fixed as it; a generated name or ID
        differs; anything else (another attribute, a custom resource, a nested stack's output, a type
        not listed here) is not read: "maybe" (review round 19, R19R-H1: all of those counted as
        generated, so a name built from an ECS cluster's fixed ``ClusterName`` passed)."""
        body = self.resources.get(logical_id)
        if not isinstance(body, Mapping):
            return False
        resource_type = str(body.get("Type"))
        if attribute is None and resource_type in _REF_IS_ID:
            return True
        if resource_type in self.unique_name_properties:
            if attribute is not None and attribute not in _NAME_ATTRIBUTES:
                return True if attribute in _UNIQUE_ATTRIBUTES else None
            if self._name_of(logical_id) is None:
                return True  # CloudFormation generates the name
            if logical_id not in self.settled:
                self._settle([logical_id])  # not reached by _names_used: kept only as a safety net
            return self.settled[logical_id]
        generated = GENERATED_ID_TYPES.get(resource_type)
        if generated is not None and (attribute is None or attribute in generated):
            return True
        name_prop = REF_IS_NAME.get(resource_type)
        if name_prop is not None and (attribute is None or attribute in _NAME_ATTRIBUTES):
            # Not a name this rule follows further: a generated one differs, a literal one is fixed.
            props = body.get("Properties")
            given = props.get(name_prop) if isinstance(props, Mapping) else None
            return True if given is None else (False if isinstance(given, str) else None)
        return None

    def _select(self, index: Json, items: Json, memo: dict[int, Answer]) -> Answer:
        if isinstance(items, list):
            # An index known offline was applied by the resolver: this one is chosen at deploy (R18T-H1).
            return one_of(self._value(item, memo) for item in items)
        part = _stack_id_part(index, items, self._texts)
        if part is not _NOT_READ:
            return part  # type: ignore[return-value]
        # A part of something that differs (a stack id mixed with other values, a generated name) may
        # be a fixed part of it: say "maybe", not "differs" (R18T-L1).
        whole = any_of((self._value(index, memo), self._value(items, memo)))
        return None if whole else whole

    def _sub(self, arg: Json, memo: dict[int, Answer]) -> Answer:
        # "${Name}" in the string is a Ref, "${Name.Attr}" a GetAtt, unless Name is a variable of the map
        # (review round 18, R18T-L3: a generated name used through Fn::Sub was read as fixed).
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if not isinstance(text, str) or not isinstance(variables, Mapping):
            return any_of(self._value(item, memo) for item in (arg if isinstance(arg, list) else [arg]))
        answers: list[Answer] = []
        for name in self._sub_names(text):
            if name in variables:
                answers.append(self._value(variables[name], memo))
            elif name == "AWS::StackId":
                answers.append(True)
            else:
                target, _, attribute = name.partition(".")
                answers.append(self._resource(target, attribute or None))
            if answers[-1]:
                return True
        return any_of(answers)


def _targets(value: Mapping[str, Json], names_in: Callable[[str], list[str]]) -> list[str]:
    """The resource (or parameter) a one-key ``Ref``/``GetAtt`` mapping names, or those ``${}`` of an
    ``Fn::Sub`` string name (its map's variables left out)."""
    if len(value) != 1:
        return []
    ((fn, arg),) = value.items()
    if fn == "Ref":
        return [arg] if isinstance(arg, str) else []
    if fn == "Fn::GetAtt":
        first = arg[0] if isinstance(arg, list) and arg else arg
        return [first.split(".", 1)[0]] if isinstance(first, str) else []
    if fn == "Fn::Sub":
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if isinstance(text, str) and isinstance(variables, Mapping):
            return [name.split(".", 1)[0] for name in names_in(text) if name not in variables]
    return []


def _get_att(arg: Json) -> tuple[str, str] | None:
    """(logical ID, attribute) of an ``Fn::GetAtt`` argument (``[id, attr]`` or ``"id.attr"``)."""
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], str):
        return arg[0], arg[1]
    if isinstance(arg, str) and "." in arg:
        target, _, attribute = arg.partition(".")
        return target, attribute
    return None


# -- parts of AWS::StackId --------------------------------------------------------------------------

_NOT_READ = object()
#: Longest text read here: names are at most 512 characters (a log group's), a stack id about 130; a
#: longer one is not a name part, and building it (YAML aliases of joins) is what the cap prevents.
_MAX_TEXT = 4096
_SEPARATORS = frozenset(":/-")


def _stack_id_part(index: Json, items: Json, memo: TextMemo) -> object:
    """Whether ``Fn::Select [index, items]`` picks a unique part of ``AWS::StackId``: True, False, None
    (an index chosen at deploy with unique and fixed items), or ``_NOT_READ`` when ``items`` is not an
    ``Fn::Split`` of text made from the stack id and literals."""
    answers = []
    for sample in _SAMPLE_STACK_IDS:
        texts = _text(items, sample, memo)
        if not isinstance(texts, list):
            return _NOT_READ
        position = _position(index)
        if position is None:
            if isinstance(index, Mapping | list):
                answers.append(one_of(_UUID_CHAR in text for text in texts))
                continue
            return _NOT_READ
        if not 0 <= position < len(texts):
            return _NOT_READ  # CloudFormation fails the deploy: "Fn::Select cannot select nonexistent value"
        answers.append(_UUID_CHAR in texts[position])
    return one_of(answers)


def _position(index: Json) -> int | None:
    if isinstance(index, int) and not isinstance(index, bool):
        return index
    if isinstance(index, str) and index.isascii() and index.isdigit() and len(index) <= 18:
        return int(index)  # 18 digits at most: int() refuses 4,300 (R19R-L4); no list is that long
    return None


_Text = str | list[str] | None
#: Texts read so far in one rule run, by (object identity, sample stack id): nested Fn::Select parts read
#: the text below them once, not once per level above (R19R-M1).
TextMemo = dict[tuple[int, str], _Text]


def _text(value: Json, stack_id: str, memo: TextMemo) -> _Text:
    """``value`` evaluated with ``AWS::StackId`` as ``stack_id``; None when it holds anything else."""
    if isinstance(value, Mapping | list):
        key = (id(value), stack_id)
        if key not in memo:
            memo[key] = _read_text(value, stack_id, memo)
        return memo[key]
    return _read_text(value, stack_id, memo)


def _read_text(value: Json, stack_id: str, memo: TextMemo) -> _Text:
    if value == _STACK_ID:
        return stack_id
    if isinstance(value, str):
        return None if _UUID_CHAR in value or len(value) > _MAX_TEXT else value
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((fn, arg),) = value.items()
    if fn == "Fn::Sub":
        return _sub_text(arg, stack_id) if isinstance(arg, str) else None
    reader = _TEXT_READERS.get(fn)
    return reader(arg[0], arg[1], stack_id, memo) if reader and isinstance(arg, list) and len(arg) == 2 else None


def _join_text(delimiter: Json, items: Json, stack_id: str, memo: TextMemo) -> str | None:
    parts = [_text(item, stack_id, memo) for item in items] if isinstance(items, list) else _text(items, stack_id, memo)
    texts = [part for part in parts if isinstance(part, str)] if isinstance(parts, list) else None
    if not isinstance(delimiter, str) or texts is None or len(texts) != len(parts or ()):
        return None
    return delimiter.join(texts) if sum(map(len, texts)) <= _MAX_TEXT else None


def _split_text(delimiter: Json, source: Json, stack_id: str, memo: TextMemo) -> list[str] | None:
    # Only the stack id's separators split it the same way in every account: a digit or letter also
    # occurs in the account id, the stack name and the UUID's hex, at places that vary (R19R-H1).
    if not isinstance(delimiter, str) or not delimiter or not set(delimiter) <= _SEPARATORS:
        return None
    text = _text(source, stack_id, memo)
    return text.split(delimiter) if isinstance(text, str) else None


def _select_text(index: Json, items: Json, stack_id: str, memo: TextMemo) -> _Text:
    position = _position(index)
    if position is None:
        return None
    if isinstance(items, list):
        return _text(items[position], stack_id, memo) if position < len(items) else None
    texts = _text(items, stack_id, memo)
    return texts[position] if isinstance(texts, list) and position < len(texts) else None


_TEXT_READERS: dict[str, Callable[[Json, Json, str, TextMemo], _Text]] = {
    "Fn::Join": _join_text,
    "Fn::Split": _split_text,
    "Fn::Select": _select_text,
}


def _sub_text(text: str, stack_id: str) -> str | None:
    def replace(part: SubPart) -> str:
        if part.literal:
            return part.literal_text
        if part.name != "AWS::StackId":
            raise LookupError(part.name)
        return stack_id

    if len(text) > _MAX_TEXT:  # checked before anything is built (R19R-M1: 7.6 MB of aliased text, 228 s)
        return None
    try:
        whole = substitute(text, replace) if _UUID_CHAR not in text else None
        return whole if whole is not None and len(whole) <= _MAX_TEXT else None
    except LookupError:
        return None
